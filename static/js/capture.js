// Photo capture on the new-visit form: camera input, a preview of each chosen photo, one submit at a time
// with upload progress. Without JavaScript the form still submits normally; the server's per-form key
// (form_key) makes a second send of the same form redirect to the first one's result instead of saving twice.
(function () {
  "use strict";

  function showPreview(input) {
    const row = input.closest(".photo-row") || input.parentElement;
    let img = row.querySelector("img.photo-preview");
    const file = input.files && input.files[0];
    if (!file || !/^image\//.test(file.type)) {
      if (img) img.remove();
      return;
    }
    if (!img) {
      img = document.createElement("img");
      img.className = "photo-preview";
      img.alt = "Preview of the chosen photo";
      input.insertAdjacentElement("afterend", img);
    }
    const reader = new FileReader(); // a data: URL: the page's CSP allows data: images, not blob:
    reader.addEventListener("load", function () { img.src = String(reader.result); });
    reader.readAsDataURL(file);
  }

  function setBusy(form, text) {
    form.dataset.busy = "true";
    form.setAttribute("aria-busy", "true");
    form.querySelectorAll('button[type="submit"]').forEach(function (button) {
      button.disabled = true;
      if (!button.dataset.idleText) button.dataset.idleText = button.textContent;
      button.textContent = text;
    });
  }

  function progressOf(form) {
    let bar = form.querySelector("progress.upload-progress");
    if (!bar) {
      bar = document.createElement("progress");
      bar.className = "upload-progress";
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", "Upload progress");
      const status = document.createElement("p");
      status.className = "upload-status muted";
      status.setAttribute("role", "status");
      const actions = form.querySelector(".actions") || form;
      actions.insertAdjacentElement("beforebegin", bar);
      bar.insertAdjacentElement("afterend", status);
    }
    return bar;
  }

  function say(form, text) {
    const status = form.querySelector(".upload-status");
    if (status) status.textContent = text;
  }

  function bindBusyForm(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.busy) { // a second click while the first is on its way: ignored
        event.preventDefault();
        return;
      }
      setBusy(form, "Saving…");
      if (!window.XMLHttpRequest || !window.FormData) return; // plain submit, still once (disabled button)
      event.preventDefault();
      const bar = progressOf(form);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.value = Math.round((100 * e.loaded) / e.total);
        say(form, e.loaded < e.total ? "Uploading… " + bar.value + "%" : "Uploaded; saving and analysing…");
      });
      xhr.addEventListener("load", function () {
        // Show the answer as the browser would have: the saved record's page (with its messages, which
        // a second request would no longer show) at its own address, or the form with its errors.
        const landed = xhr.responseURL && xhr.responseURL !== window.location.href;
        if (landed) window.history.replaceState(null, "", xhr.responseURL);
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () {
        say(form, "The upload did not reach the server. Check the connection and send again.");
        delete form.dataset.busy;
        form.removeAttribute("aria-busy");
        form.querySelectorAll('button[type="submit"]').forEach(function (button) {
          button.disabled = false;
          button.textContent = button.dataset.idleText || button.textContent;
        });
      });
      xhr.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("change", function (event) {
      const input = event.target;
      if (input instanceof HTMLInputElement && input.type === "file" && input.hasAttribute("data-preview")) showPreview(input);
    });
    document.querySelectorAll("form[data-busy-form]").forEach(bindBusyForm);
  });
})();
