// Starts Swagger UI on the page trainql serves at /api/docs (trainql/playground/swagger.py).
// A file rather than an inline script, so the page's Content-Security-Policy can forbid those.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    // FastAPI's defaults (fastapi.openapi.docs.swagger_ui_default_parameters).
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    // The default validator badge asks validator.swagger.io about the document: a request
    // to another host, which this page must never make.
    validatorUrl: null,
  });
})();
