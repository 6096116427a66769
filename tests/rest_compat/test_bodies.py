"""The legacy routes' body reader: what is JSON but cannot be read is a 400 saying so."""

from __future__ import annotations

import httpx

from tests.factories import Factory, training_run_count
from trainql.services import Services


async def test_a_number_past_pythons_digit_limit_is_400_and_records_nothing(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    response = await client.post(
        "/api/training/train/",
        content=b'{"test_split": ' + b"1" * 5000 + b"}",
        headers={**hr.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Request body holds a number of more than 4300 digits, which no field "
        "accepts. Expected a JSON object of training parameters."
    }
    assert await training_run_count(services) == 0


async def test_a_predict_body_that_is_not_json_or_has_a_huge_number_is_400(
    client: httpx.AsyncClient, factory: Factory
):
    hr = await factory.hr_staff()
    headers = {**hr.headers, "Content-Type": "application/json"}
    url = "/api/training/runs/1/predict/"
    broken = await client.post(url, content=b'{"rows": [{"a": 1}', headers=headers)
    assert broken.status_code == 400
    assert broken.json()["detail"] == (
        "Request body is not valid JSON: EOF while parsing a list at line 1 column 18. "
        'Expected a JSON object {"rows": [{column: value, ...}, ...]}.'
    )
    huge = await client.post(
        url, content=b'{"rows": [{"a": ' + b"9" * 4301 + b"}]}", headers=headers
    )
    assert huge.json() == {
        "detail": "Request body holds a number of more than 4300 digits, which no field "
        'accepts. Expected a JSON object {"rows": [{column: value, ...}, ...]}.'
    }
