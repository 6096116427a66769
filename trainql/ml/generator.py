"""A deterministic generator of the HR "future skills" table the service trains on by default.

The columns are those of the original service's file. The target, `future_need_level`, comes
from a hidden demand score built from the features plus noise, so a forest learns it well but
not perfectly, and all three classes are always present.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from trainql.constants import DEFAULT_TARGET_COLUMN

CATEGORICAL_COLUMNS = ("job_role_name", "skill_name", "skill_category", "job_department")
NUMERIC_COLUMNS = (
    "trend_score",
    "internal_usage",
    "training_requests",
    "scarcity_index",
    "hiring_difficulty",
    "avg_salary_k",
    "economic_indicator",
)
COLUMNS = (*CATEGORICAL_COLUMNS, *NUMERIC_COLUMNS, DEFAULT_TARGET_COLUMN)
LEVELS = ("LOW", "MEDIUM", "HIGH")
DEFAULT_ROWS = 357
DEFAULT_SEED = 42

ROLES_BY_DEPARTMENT: dict[str, tuple[str, ...]] = {
    "Engineering": ("Software Engineer", "DevOps Engineer", "QA Engineer", "Solutions Architect"),
    "Data": ("Data Scientist", "Data Engineer", "ML Engineer", "BI Analyst"),
    "Product": ("Product Manager", "UX Designer", "Product Analyst"),
    "Human Resources": ("HR Business Partner", "Talent Acquisition Specialist", "L&D Manager"),
    "Finance": ("Financial Analyst", "Controller", "Risk Analyst"),
    "Operations": ("Operations Manager", "Supply Chain Analyst", "Project Manager"),
}

SKILLS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "AI & Data": ("Machine Learning", "Generative AI", "Data Analysis", "MLOps", "SQL"),
    "Cloud & Infrastructure": ("Kubernetes", "AWS", "Terraform", "Cybersecurity"),
    "Software": ("Python", "TypeScript", "Rust", "Java", "COBOL"),
    "Business": ("Financial Modeling", "Negotiation", "Change Management", "Excel"),
    "Soft Skills": ("Communication", "Leadership", "Critical Thinking", "Adaptability"),
}

# How the market's demand for each category is moving (hidden; the forest has to find it).
_CATEGORY_EFFECT = {
    "AI & Data": 0.9,
    "Cloud & Infrastructure": 0.5,
    "Software": 0.1,
    "Business": -0.4,
    "Soft Skills": -0.2,
}
_SKILL_EFFECT = {"Generative AI": 0.6, "MLOps": 0.4, "Rust": 0.3, "COBOL": -0.9, "Excel": -0.5}


def _pick_grouped(
    rng: np.random.Generator, groups: Mapping[str, Sequence[str]], rows: int
) -> tuple[NDArray[Any], NDArray[Any]]:
    """For each row a group, uniformly, then a member of that group, uniformly."""
    names = np.array(list(groups))
    group = names[rng.integers(0, len(names), rows)]
    member = np.empty(rows, dtype=object)
    for name, members in groups.items():
        mask = group == name
        member[mask] = np.array(members, dtype=object)[rng.integers(0, len(members), mask.sum())]
    return group, member


def generate_future_skills(rows: int = DEFAULT_ROWS, *, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """`rows` rows of the future-skills table; the same `rows` and `seed` give the same table.

    Every level appears at least once whenever `rows` >= 3.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    rng = np.random.default_rng(seed)

    department, role = _pick_grouped(rng, ROLES_BY_DEPARTMENT, rows)
    category, skill = _pick_grouped(rng, SKILLS_BY_CATEGORY, rows)

    category_effect = np.array([_CATEGORY_EFFECT[c] for c in category])
    skill_effect = np.array([_SKILL_EFFECT.get(s, 0.0) for s in skill])
    # Data roles ask for AI & Data skills more than anyone else.
    fit_effect = np.where((department == "Data") & (category == "AI & Data"), 0.4, 0.0)
    latent = category_effect + skill_effect + rng.normal(0.0, 0.6, rows)

    trend_score = np.clip(55 + 18 * latent + rng.normal(0, 10, rows), 0, 100)
    scarcity_index = np.clip(5 + 1.6 * latent + rng.normal(0, 1.5, rows), 0, 10)
    hiring_difficulty = np.clip(5 + 1.2 * latent + rng.normal(0, 1.8, rows), 1, 10)
    internal_usage = np.clip(50 - 8 * latent + rng.normal(0, 18, rows), 0, 100)
    training_requests = rng.poisson(np.exp(2.0 + 0.35 * latent))
    avg_salary_k = np.clip(70 + 15 * latent + rng.normal(0, 14, rows), 35, 220)
    economic_indicator = rng.normal(0.0, 1.0, rows)

    score = (
        0.035 * (trend_score - 55)
        + 0.25 * (scarcity_index - 5)
        + 0.15 * (hiring_difficulty - 5)
        - 0.01 * (internal_usage - 50)
        + 0.04 * (training_requests - 8)
        + 0.15 * economic_indicator
        + fit_effect
        + rng.normal(0, 0.2, rows)
    )
    level = np.where(score > 0.7, "HIGH", np.where(score > -0.5, "MEDIUM", "LOW")).astype(object)
    if rows >= len(LEVELS):
        # Guarantee every class: relabel the rows with the most extreme scores if one is missing.
        order = np.argsort(score)
        for label, index in (("LOW", order[0]), ("HIGH", order[-1])):
            if not (level == label).any():
                level[index] = label
        if not (level == "MEDIUM").any():
            level[order[len(order) // 2]] = "MEDIUM"

    return pd.DataFrame(
        {
            "job_role_name": role,
            "skill_name": skill,
            "skill_category": category,
            "job_department": department,
            "trend_score": trend_score.round(2),
            "internal_usage": internal_usage.round(2),
            "training_requests": training_requests.astype(np.int64),
            "scarcity_index": scarcity_index.round(3),
            "hiring_difficulty": hiring_difficulty.round(2),
            "avg_salary_k": avg_salary_k.round(1),
            "economic_indicator": economic_indicator.round(4),
            DEFAULT_TARGET_COLUMN: level,
        },
        columns=list(COLUMNS),
    )


def write_future_skills_csv(
    path: Path, rows: int = DEFAULT_ROWS, *, seed: int = DEFAULT_SEED, chunk_rows: int = 200_000
) -> int:
    """Write the table to `path` (via a temporary file, then renamed); returns the row count.

    Large tables are generated and written in chunks of `chunk_rows`, each with its own seed
    derived from `seed`, so memory stays bounded; a table of at most `chunk_rows` rows is
    exactly `generate_future_skills(rows, seed=seed)`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    seeds = np.random.SeedSequence(seed)
    with partial.open("w", encoding="utf-8", newline="") as out:
        written = 0
        while written < rows:
            count = min(chunk_rows, rows - written)
            chunk_seed = seed if rows <= chunk_rows else int(seeds.spawn(1)[0].generate_state(1)[0])
            frame = generate_future_skills(count, seed=chunk_seed)
            frame.to_csv(out, index=False, header=written == 0, lineterminator="\n")
            written += count
    partial.replace(path)
    return written
