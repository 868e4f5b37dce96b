// The scan field is ready for the next scan after every answer: focused, its text selected (a scanner's
// next code replaces it). No inline script anywhere: the pages' Content-Security-Policy allows only these files.
document.addEventListener("htmx:afterSwap", function (event) {
  if (event.detail.target && event.detail.target.id === "result") {
    var input = document.getElementById("code");
    if (input) { input.focus(); input.select(); }
  }
});
