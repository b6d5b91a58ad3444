// Starts Swagger UI on /api/v1/docs: the OpenAPI document's URL comes from the page (data-openapi-url), so no
// inline script is needed. validatorUrl null: never ask an outside validator about our document.
(function () {
  "use strict";
  var root = document.getElementById("ui");
  window.ui = SwaggerUIBundle({url: root.dataset.openapiUrl, dom_id: "#ui", validatorUrl: null});
})();
