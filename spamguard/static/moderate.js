// spamguard moderation keys: j/k move, x select, a approve (ham), s spam, ? help.
// Loaded as an external file (the page's Content-Security-Policy allows no inline script); it only
// reads ids the server wrote into data- attributes and never turns page text into HTML.
(function () {
  "use strict";

  var items = [];
  var current = -1;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function show(index) {
    if (!items.length) { return; }
    index = Math.max(0, Math.min(items.length - 1, index));
    if (current >= 0 && items[current]) { items[current].classList.remove("current"); }
    current = index;
    var item = items[current];
    item.classList.add("current");
    item.scrollIntoView({ block: "nearest" });
  }

  function checkbox(item) {
    return item.querySelector("input[type=checkbox][name=ids]");
  }

  function toggle() {
    if (current < 0) { return; }
    var box = checkbox(items[current]);
    if (box) {
      box.checked = !box.checked;
      items[current].classList.toggle("selected", box.checked);
    }
  }

  function decide(verdict) {
    if (current < 0) { return; }
    var item = items[current];
    var button = item.querySelector("button[data-verdict=" + verdict + "]");
    if (!button) { return; }
    // After the page reloads, land on the comment that followed this one.
    var next = items[current + 1] || items[current - 1];
    var field = document.getElementById("next");
    if (field) { field.value = next ? next.getAttribute("data-id") : ""; }
    // The server decides only the item of the button pressed, whatever else is ticked.
    button.form.requestSubmit ? button.form.requestSubmit(button) : button.click();
  }

  function start() {
    items = Array.prototype.slice.call(document.querySelectorAll(".item[data-id]"));
    var help = document.getElementById("keys-help");
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        items.forEach(function (item) {
          var box = checkbox(item);
          if (box) { box.checked = all.checked; item.classList.toggle("selected", all.checked); }
        });
      });
    }
    items.forEach(function (item, i) {
      var box = checkbox(item);
      if (box) {
        box.addEventListener("change", function () { item.classList.toggle("selected", box.checked); });
      }
      item.addEventListener("click", function () { if (current !== i) { show(i); } });
    });
    if (items.length) {
      var start = 0;
      var wanted = window.location.hash.slice(1);
      items.forEach(function (item, i) { if (item.id === wanted) { start = i; } });
      show(start);
    }
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      switch (event.key) {
        case "j": show(current + 1); break;
        case "k": show(current - 1); break;
        case "x": toggle(); break;
        case "a": decide("ham"); break;
        case "s": decide("spam"); break;
        case "?": if (help) { help.classList.toggle("open"); } break;
        default: return;
      }
      event.preventDefault();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
