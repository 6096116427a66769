"""GraphiQL at GET /graphql: the installer of its assets (`assets`) and the page (`page`)."""
