// The pharmacist's scan field. No inline script anywhere: the pages' Content-Security-Policy allows only files.
(function () {
  var GS = "\u001d";
  // A keyboard-wedge scanner types a DataMatrix's GS separator as Ctrl+] (ASCII 29), which a browser would
  // drop: put the character in the field, where the server reads it as GS1's separator.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input || input.id !== "code" || !event.ctrlKey || !(event.key === "]" || event.code === "BracketRight")) {
      return;
    }
    event.preventDefault();
    var start = input.selectionStart, end = input.selectionEnd;
    input.value = input.value.slice(0, start) + GS + input.value.slice(end);
    input.selectionStart = input.selectionEnd = start + 1;
  });
  // Ready for the next scan after every answer: focused, its text selected (the next code replaces it).
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "result") {
      var input = document.getElementById("code");
      if (input) { input.focus(); input.select(); }
    }
  });
})();
