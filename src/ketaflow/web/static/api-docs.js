// Starts Swagger UI on /api/docs (kept out of the page so the Content-Security-Policy needs no
// inline script). validatorUrl: null stops Swagger UI from sending the document to a public
// validator on another host.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
