// Live view: new critical events and incident changes arrive over SSE from /api/v1/live and
// are shown at the top of #live; counters marked data-live-count go up. No other script runs.
(function () {
  var list = document.getElementById("live");
  if (!list || !window.EventSource) { return; }
  var source = new EventSource("/api/v1/live");
  function show(kind, data) {
    var item = document.createElement("li");
    item.setAttribute("data-live", kind);
    var when = new Date(data.ts_ms).toISOString().replace("T", " ").slice(0, 19);
    item.textContent = when + " UTC · " + (kind === "critical"
      ? "CRITICAL " + data.rules.join(", ") + " · user " + data.user_id
      : "incident " + data.status + " · " + data.title);
    if (data.link) {
      var a = document.createElement("a");
      a.href = data.link;
      a.textContent = " open";
      item.appendChild(a);
    }
    list.insertBefore(item, list.firstChild);
    var counter = document.querySelector("[data-live-count='" + kind + "']");
    if (counter) { counter.textContent = String(Number(counter.textContent.replace(/,/g, "")) + 1); }
  }
  source.addEventListener("critical", function (e) { show("critical", JSON.parse(e.data)); });
  source.addEventListener("incident", function (e) { show("incident", JSON.parse(e.data)); });
})();
