// rpmyard web UI: copy buttons, the live build page (Server-Sent Events), auto-refreshing panels.
// Every page works without this file; it only adds live updates and conveniences.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
      document.body.appendChild(area); area.select();
      try { document.execCommand("copy") ? resolve() : reject(new Error("copy refused")); }
      catch (e) { reject(e); } finally { document.body.removeChild(area); }
    });
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    var source = document.getElementById(btn.getAttribute("data-copy"));
    var text = source ? source.textContent.trim() : btn.getAttribute("data-copy-text") || "";
    copyText(text).then(function () {
      var label = btn.textContent;
      btn.textContent = "Copied"; btn.classList.add("done");
      setTimeout(function () { btn.textContent = label; btn.classList.remove("done"); }, 1600);
    });
  });

  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // New build form: show the upload or the URL field.
  document.querySelectorAll("[data-source-switch]").forEach(function (form) {
    function sync() {
      var chosen = form.querySelector("input[name=source]:checked");
      form.querySelectorAll("[data-source]").forEach(function (el) {
        el.hidden = !chosen || el.getAttribute("data-source") !== chosen.value;
      });
    }
    form.addEventListener("change", sync); sync();
  });

  // Panels that refresh themselves (builders, queue): fetch the page, swap the panel.
  document.querySelectorAll("[data-refresh]").forEach(function (panel) {
    var seconds = parseFloat(panel.getAttribute("data-refresh")) || 5;
    setInterval(function () {
      if (document.hidden) return;
      fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(panel.id);
          if (fresh) panel.innerHTML = fresh.innerHTML;
        }).catch(function () {});
    }, seconds * 1000);
  });

  // The build page: state, chroot rows and the log follow the build as it runs.
  var live = document.getElementById("build-live");
  if (live && window.EventSource) {
    var log = document.getElementById("live-log");
    var badge = document.getElementById("live-badge");
    var url = live.getAttribute("data-stream");
    var source = new EventSource(url);
    var stateBadge = document.getElementById("build-state");
    var stateText = document.getElementById("build-state-description");

    function setState(el, state) {
      if (!el) return;
      el.className = el.className.replace(/\bstate-[a-z]+\b/g, "").trim() + " state-" + state;
      el.textContent = state;
    }
    function setText(el, text) { if (el) el.textContent = text == null ? "" : text; }

    source.addEventListener("state", function (ev) {
      var data = JSON.parse(ev.data);
      setState(stateBadge, data.state);
      setText(stateText, data.description);
      live.setAttribute("data-state", data.state);
      ["started", "ended", "took"].forEach(function (k) { setText(document.querySelector("[data-build=" + k + "]"), data[k]); });
      data.chroots.forEach(function (c) {
        var row = document.querySelector('tr[data-chroot="' + CSS.escape(c.name) + '"]');
        if (!row) return;
        setState(row.querySelector(".state"), c.state);
        setText(row.querySelector("[data-field=duration]"), c.duration);
        var note = row.querySelector("[data-field=note]");
        if (note) {
          setText(note, c.note + (c.worker ? (c.note ? " · " : "") + "on " + c.worker : ""));
          note.classList.toggle("waiting", c.state === "pending" || c.state === "waiting");
        }
        var links = row.querySelector("[data-field=links]");
        if (links && c.url && !links.querySelector("a")) {
          links.innerHTML = '<a href="' + c.url + '">files</a> · <a href="' + c.url + 'builder-live.log">live log</a> · <a href="' + c.url + 'backend.log">backend log</a>';
        }
      });
    });
    source.addEventListener("log", function (ev) {
      if (!log) return;
      var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
      var empty = log.querySelector(".placeholder");
      if (empty) empty.remove();
      log.appendChild(document.createTextNode(JSON.parse(ev.data).text));
      if (atBottom) log.scrollTop = log.scrollHeight;
    });
    source.addEventListener("reset", function () { if (log) log.textContent = ""; });
    source.addEventListener("end", function (ev) {
      source.close();
      if (badge) { badge.textContent = "finished: " + JSON.parse(ev.data).state; badge.classList.add("ended"); }
      live.setAttribute("data-ended", "1");
      var cancel = document.getElementById("cancel-form");
      if (cancel) cancel.hidden = true;
      var del = document.getElementById("delete-form");
      if (del) del.hidden = false;
    });
    source.onerror = function () { if (badge && !live.getAttribute("data-ended")) badge.textContent = "reconnecting…"; };
    source.onopen = function () { if (badge && !live.getAttribute("data-ended")) badge.textContent = "live"; };
  }
})();
