// The "Mark as Trained" / "✓ Trained" toggle of the dataset document's React component
// (DatasetTrainingButton in dataset-training-status-api.md), over GraphQL instead of the
// PATCH route: disabled and reading "Updating..." while the request runs, the new state
// (and "Dataset marked as <status>") once it succeeded, an error message if it failed.

import { graphql } from "../api.js";
import { h } from "../dom.js";
import { SET_TRAINING_STATUS } from "../queries.js";
import { toast } from "../ui.js";

const LEGACY = { TRAINED: "trained", NOT_TRAINED: "not_trained" };

/**
 * A toggle for one dataset: `currentStatus` "trained" or "not_trained" (the legacy words),
 * `onStatusChange(newStatus)` after a success. Returns {node, button}.
 */
export function trainingStatusButton({ datasetId, currentStatus, onStatusChange, label }) {
  let status = currentStatus;
  let loading = false;
  const button = h("button", { type: "button", dataset: { datasetId } });
  if (label) button.setAttribute("aria-describedby", label);
  const error = h("span", { class: "toggle-error", role: "alert" });

  function paint() {
    button.disabled = loading;
    button.className = `btn ${status === "trained" ? "btn-success" : "btn-default"}`;
    button.dataset.status = status;
    button.textContent = loading
      ? "Updating..."
      : status === "trained"
        ? "✓ Trained"
        : "Mark as Trained";
  }

  button.addEventListener("click", async () => {
    const hadFocus = document.activeElement === button;
    loading = true;
    paint();
    error.textContent = "";
    const newStatus = status === "trained" ? "not_trained" : "trained";
    try {
      const data = await graphql(SET_TRAINING_STATUS, {
        datasetId,
        trainingStatus: newStatus.toUpperCase(),
      });
      const result = data.setTrainingStatus;
      if (result.success) {
        status = LEGACY[result.trainingStatus] ?? newStatus;
        onStatusChange?.(status);
        toast(`Dataset marked as ${status}`, "success");
      }
    } catch (failure) {
      error.textContent = `Failed to update training status: ${failure.message}`;
    } finally {
      loading = false;
      paint();
      // A disabled button loses the focus: give it back to a keyboard user.
      if (hadFocus && (document.activeElement === document.body || document.activeElement === null))
        button.focus();
    }
  });
  paint();
  return { node: h("span", { class: "status-toggle" }, button, error), button };
}

export function legacyStatus(trainingStatus) {
  return LEGACY[trainingStatus] ?? "not_trained";
}
