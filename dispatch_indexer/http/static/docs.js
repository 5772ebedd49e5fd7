"use strict";
// Swagger UI over this server's own OpenAPI description, from vendored files.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // With a token (given once as /docs?token=...), every request carries it.
  requestInterceptor: (request) => {
    Object.assign(request.headers, window.CI.headers());
    return request;
  },
});
