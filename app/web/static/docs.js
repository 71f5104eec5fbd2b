// Starts the interactive API documentation (app/web/docs.py): Swagger UI in #swagger-ui (/docs), ReDoc in #redoc
// (/redoc). The page's container carries the OpenAPI URL, the OAuth2 redirect page and the options (JSON) in its
// data-* attributes, so the pages need no inline script (SPEC §19.1).
(function () {
  "use strict";

  function options(element) {
    return JSON.parse(element.getAttribute("data-options") || "{}");
  }

  function elsewhere(url) {
    var value = String(url);
    if (/^data:/i.test(value)) {
      return false;
    }
    try {
      return new URL(value, window.location.href).origin !== window.location.origin;
    } catch (e) {
      return true;
    }
  }

  // ReDoc 2 shows Redocly's logo from Redocly's CDN in its sidebar's footer, and no option turns it off: an image
  // from another host is neither requested nor shown (SPEC §19.1: no request to another host).
  function imagesFromThisServerOnly() {
    var setAttribute = Element.prototype.setAttribute;
    Element.prototype.setAttribute = function (name, value) {
      if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" && elsewhere(value)) {
        this.hidden = true;
        return;
      }
      setAttribute.call(this, name, value);
    };
    var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
    Object.defineProperty(HTMLImageElement.prototype, "src", {
      configurable: true,
      enumerable: src.enumerable,
      get: src.get,
      set: function (value) {
        if (elsewhere(value)) {
          this.hidden = true;
          return;
        }
        src.set.call(this, value);
      },
    });
  }

  var swagger = document.getElementById("swagger-ui");
  if (swagger && window.SwaggerUIBundle) {
    var settings = options(swagger);
    settings.url = swagger.getAttribute("data-openapi-url");
    settings.domNode = swagger;
    settings.oauth2RedirectUrl = new URL(swagger.getAttribute("data-oauth2-redirect-url"), window.location.href).href;
    settings.presets = [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset];
    window.ui = window.SwaggerUIBundle(settings);
  }

  var redoc = document.getElementById("redoc");
  if (redoc && window.Redoc) {
    imagesFromThisServerOnly();
    document.body.style.margin = "0";
    window.Redoc.init(redoc.getAttribute("data-openapi-url"), options(redoc), redoc);
  }
})();
