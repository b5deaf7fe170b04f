// Refreshes the alarm table from /api/v1/alarms with the page's session cookie.
// Vendored and dependency-free: the hub must work on a district LAN without a CDN.
(function () {
  "use strict";
  var QUALIFIER_ZH = { "new": "新事件", "restore": "恢复", "previous": "先前报告" };
  var UNRECOGNISED_ZH = "无法识别的信号";

  function beijing(iso) {
    // The API always answers in +08:00, so the wall-clock part is Beijing time.
    return iso ? iso.replace("T", " ").slice(0, 19) : "";
  }

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);  // textContent: never HTML
    tr.appendChild(td);
    return td;
  }

  function row(a) {
    var tr = document.createElement("tr");
    if (a.life_safety) { tr.classList.add("life-safety"); }
    if (!a.recognised) { tr.classList.add("unrecognised"); }
    cell(tr, beijing(a.received_at));
    cell(tr, a.box_id);
    cell(tr, a.account);
    var event = a.recognised
      ? ((a.event_code || "") + " " + (a.event_zh || a.event_en || "")).trim()
      : UNRECOGNISED_ZH;
    var td = cell(tr, event);
    if (!a.recognised && a.note) {
      var note = document.createElement("span");
      note.className = "note";
      note.textContent = "（" + a.note + "）";
      td.appendChild(note);
    }
    cell(tr, QUALIFIER_ZH[a.qualifier] || a.qualifier || "");
    cell(tr, a.zone);
    cell(tr, a.partition);
    cell(tr, a.case_id);
    return tr;
  }

  function start() {
    var table = document.getElementById("alarms");
    var status = document.getElementById("status");
    if (!table) { return; }
    var url = table.dataset.api + "?limit=" + encodeURIComponent(table.dataset.limit);
    if (table.dataset.boxId) { url += "&box_id=" + encodeURIComponent(table.dataset.boxId); }
    var every = (parseInt(table.dataset.refresh, 10) || 5) * 1000;

    function refresh() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); throw new Error("login"); }
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.json();
        })
        .then(function (data) {
          var body = document.createElement("tbody");
          data.items.forEach(function (a) { body.appendChild(row(a)); });
          if (!data.items.length) {
            var tr = document.createElement("tr");
            tr.className = "empty";
            cell(tr, "暂无报警记录").colSpan = 8;
            body.appendChild(tr);
          }
          table.replaceChild(body, table.tBodies[0]);
          status.textContent = "已更新 " + new Date().toLocaleTimeString("zh-CN");
        })
        .catch(function (e) { status.textContent = "更新失败：" + e.message; })
        .finally(function () { window.setTimeout(refresh, every); });
    }
    window.setTimeout(refresh, every);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
