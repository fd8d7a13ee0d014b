// KaTeX for pymdownx.arithmatex (generic mode): \( ... \) inline, \[ ... \] display.
// KaTeX 0.19.1 is vendored under docs/vendor/katex (npm package "katex": dist/katex.min.{js,css},
// dist/contrib/auto-render.min.js and the woff2 fonts; MIT, see LICENSE.txt there): the site needs no network.
// Material's instant navigation swaps the page body without a reload, so render on every document$ event;
// without it (a theme change), render once on load.
(function () {
  function render(root) {
    if (typeof renderMathInElement !== "function") {
      return; // KaTeX failed to load: leave the TeX source readable rather than throw
    }
    root.querySelectorAll(".arithmatex").forEach(function (el) {
      renderMathInElement(el, {
        delimiters: [
          { left: "\\(", right: "\\)", display: false },
          { left: "\\[", right: "\\]", display: true },
        ],
        throwOnError: false,
      });
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function () {
      render(document.body);
    });
  } else {
    window.addEventListener("DOMContentLoaded", function () {
      render(document.body);
    });
  }
})();
