/* Starts Swagger UI on /api/docs. A file, not an inline script: the page's CSP allows scripts from 'self' only. */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-url"),
    domNode: root,
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
    deepLinking: true,
    validatorUrl: null, // never send the document to an outside validator
    queryConfigEnabled: false, // the page's settings are these, whatever the URL says
    tryItOutEnabled: false,
    persistAuthorization: false,
    displayRequestDuration: true,
  });
})();
