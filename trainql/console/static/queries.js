// Every GraphQL document the console sends. They use the public schema only (schema.graphql);
// `inputSchema`, `predict` (issue 12) and `revokeToken` (issue 13) are the contract's names.

export const ME = `query Me { me { id username roles } }`;

export const OBTAIN_TOKEN = `
mutation SignIn($username: String!, $password: String!) {
  obtainToken(username: $username, password: $password) { token user { id username roles } }
}`;

export const REVOKE_TOKEN = `mutation SignOut { revokeToken }`;

export const RUNS = `
query Runs($filter: TrainingRunFilter, $orderBy: TrainingRunOrder,
           $first: Int, $after: String, $last: Int, $before: String) {
  trainingRuns(filter: $filter, orderBy: $orderBy,
               first: $first, after: $after, last: $last, before: $before) {
    totalCount
    nodes {
      id modelVersion status runDate accuracy f1Score trainingDurationSeconds
      trainedBy { username }
      dataset { id name }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

const LIVE_RUN_FIELDS = `id status accuracy f1Score trainingDurationSeconds errorMessage`;

export const WATCH_RUN = `
subscription WatchRun($id: ID!) { trainingRunUpdated(id: $id) { ${LIVE_RUN_FIELDS} modelVersion } }`;

const RUN_FIELDS = `
  id modelVersion status errorMessage runDate datasetPath targetColumn notes
  testSplit randomState totalSamples trainSamples testSamples
  metrics { accuracy precision recall f1Score trainingDurationSeconds }
  hyperparameters { nEstimators maxDepth minSamplesSplit }
  perClassMetrics { label accuracy precision recall f1Score support }
  featuresUsed
  featureImportances { feature importance }
  confusionMatrix { labels matrix }
  trainedBy { username }
  dataset { id name }`;

export const RUN = `query Run($id: ID!) { trainingRun(id: $id) { ${RUN_FIELDS} } }`;

/** One document fetching `count` runs at once, as r0 … r<count-1> (variables id0 …). */
export function compareRuns(count) {
  const ids = [...Array(count).keys()];
  const variables = ids.map((i) => `$id${i}: ID!`).join(", ");
  const fields = ids.map((i) => `r${i}: trainingRun(id: $id${i}) { ...Compared }`).join("\n  ");
  return `query Compare(${variables}) {
  ${fields}
}
fragment Compared on TrainingRun {
  id modelVersion status runDate datasetPath targetColumn testSplit
  metrics { accuracy precision recall f1Score trainingDurationSeconds }
  hyperparameters { nEstimators maxDepth minSamplesSplit }
  featureImportances { feature importance }
  dataset { id name }
}`;
}

export const ACCURACY_RUNS = `
query AccuracyRuns($filter: TrainingRunFilter, $after: String) {
  trainingRuns(filter: $filter, orderBy: {field: RUN_DATE, direction: DESC},
               first: 100, after: $after) {
    nodes { id modelVersion runDate accuracy dataset { id name } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const DATASET_FIELDS = `id name rowCount columns trainingStatus createdAt updatedAt owner { username }`;

export const DATASETS = `
query Datasets($first: Int, $after: String) {
  datasets(first: $first, after: $after) {
    totalCount
    nodes { ${DATASET_FIELDS} }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const DATASET = `query Dataset($id: UUID!) { dataset(id: $id) { ${DATASET_FIELDS} } }`;

export const DATASET_RUNS = `
query DatasetRuns($id: UUID!) {
  dataset(id: $id) {
    id
    trainingRuns(first: 20) {
      nodes { id modelVersion status runDate accuracy f1Score }
      pageInfo { hasNextPage }
    }
  }
}`;

export const CREATE_DATASET = `
mutation UploadDataset($name: String!, $file: Upload!) {
  createDataset(name: $name, file: $file) { ${DATASET_FIELDS} }
}`;

export const SET_TRAINING_STATUS = `
mutation SetTrainingStatus($datasetId: UUID!, $trainingStatus: DatasetTrainingStatus!) {
  setTrainingStatus(datasetId: $datasetId, trainingStatus: $trainingStatus) {
    success datasetId trainingStatus message
  }
}`;

export const TRAIN = `
mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) { message trainingRun { id modelVersion status runDate } }
}`;

// Issue 12's contract: a COMPLETED run's feature columns, and predictions for rows.
export const INPUT_SCHEMA = `
query InputSchema($id: ID!) {
  trainingRun(id: $id) { id status targetColumn inputSchema { name kind categories } }
}`;

export const PREDICT = `
query Predict($input: PredictInput!) {
  predict(input: $input) {
    trainingRun { id modelVersion }
    predictions { label probabilities { label probability } }
    ignoredColumns
  }
}`;
