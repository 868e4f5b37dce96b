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
  // The phone's camera (where the browser has one and the reader loaded): reads one DataMatrix, puts its text in
  // the field and sends the form, as a scanner would.
  document.addEventListener("DOMContentLoaded", function () {
    var start = document.getElementById("camera-start");
    if (!start || !window.ZXing || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return;
    }
    var video = document.getElementById("camera-preview");
    var status = document.getElementById("camera-status");
    var reader = new ZXing.BrowserDatamatrixCodeReader();
    start.hidden = false;
    start.addEventListener("click", function () {
      start.disabled = true;
      video.hidden = false;
      status.textContent = "Hold the pack's DataMatrix in front of the camera.";
      reader.decodeOnceFromVideoDevice(undefined, "camera-preview").then(function (result) {
        var input = document.getElementById("code");
        input.value = result.getText();
        status.textContent = "Code read.";
        document.getElementById("scan").requestSubmit();
      }, function (error) {
        status.textContent = "The camera could not read a code (" + error + ").";
      }).finally(function () {
        reader.reset();
        video.hidden = true;
        start.disabled = false;
      });
    });
  });
  // Ready for the next scan after every answer: focused, its text selected (the next code replaces it).
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "result") {
      var input = document.getElementById("code");
      if (input) { input.focus(); input.select(); }
    }
  });
})();
