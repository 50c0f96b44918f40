// pochta admin: ask before destructive actions. Everything works
// without this script; it only adds a confirmation.
"use strict";
document.addEventListener("submit", function (e) {
  var b = e.submitter || e.target.querySelector("button[data-confirm]");
  var msg = b && b.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
