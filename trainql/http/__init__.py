"""HTTP plumbing around the app: middleware, CORS, and serving under uvicorn."""
