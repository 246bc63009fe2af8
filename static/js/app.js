// DermaTrack page behaviour: live analysis panels, heatmap blending, lesion outlines, extra photo rows.
(function () {
  "use strict";

  // Re-fetch analysis panels that still have pending predictions, without reloading the page.
  function pollPending() {
    const pending = document.querySelectorAll(".analysis[data-pending]");
    pending.forEach(function (panel) {
      fetch(panel.dataset.analysisUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          const holder = document.createElement("div");
          holder.innerHTML = html.trim();
          const fresh = holder.firstElementChild;
          if (fresh) { panel.replaceWith(fresh); bindSliders(fresh); bindOutlineToggles(fresh); }
        })
        .catch(function () {});
    });
    if (pending.length) window.setTimeout(pollPending, 2000);
  }

  function bindSliders(root) {
    root.querySelectorAll(".blend-slider").forEach(function (slider) {
      const blend = slider.closest("figure").querySelector(".blend");
      slider.addEventListener("input", function () {
        blend.style.setProperty("--blend", String(slider.value / 100));
      });
    });
  }

  // The lesion outline over the photo and the heatmap of one analysis panel, shown or hidden together.
  function bindOutlineToggles(root) {
    root.querySelectorAll(".outline-toggle").forEach(function (box) {
      const panel = box.closest(".analysis");
      if (!panel) return;
      box.addEventListener("change", function () {
        panel.dataset.outline = box.checked ? "on" : "off";
      });
    });
  }

  function bindPhotoRows() {
    const button = document.getElementById("add-photo-row");
    if (!button) return;
    const template = document.getElementById("photo-row-template");
    const rows = document.getElementById("photo-rows");
    const total = document.getElementById("id_photos-TOTAL_FORMS");
    const maxForms = parseInt(document.getElementById("id_photos-MAX_NUM_FORMS").value, 10);
    button.addEventListener("click", function () {
      const index = parseInt(total.value, 10);
      if (index >= maxForms) return;
      const html = template.innerHTML.replace(/__prefix__/g, String(index));
      rows.insertAdjacentHTML("beforeend", html);
      rows.lastElementChild.querySelector("legend").textContent = "Photo " + (index + 1);
      total.value = String(index + 1);
    });
  }

  // The compact navigation of narrow screens: one row, the links behind a menu button.
  function bindNavToggle() {
    const button = document.querySelector(".nav-toggle");
    if (!button) return;
    const bar = button.closest(".topbar");
    button.addEventListener("click", function () {
      const open = bar.classList.toggle("nav-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // A result's own fields only beside the result they belong to: Breslow thickness and ulceration with
  // invasive melanoma, the description with "other" (a field with an error or a value stays shown).
  function bindResultFields() {
    const result = document.getElementById("id_histopathology");
    if (!result) return;
    const owners = {
      id_breslow_thickness_mm: "melanoma_invasive",
      id_ulceration: "melanoma_invasive",
      id_histopathology_text: "other",
    };
    function update() {
      Object.keys(owners).forEach(function (id) {
        const input = document.getElementById(id);
        const field = input && input.closest(".field");
        if (!field) return;
        const filled = input.value && input.value !== "unknown";
        field.hidden = result.value !== owners[id] && !filled && !field.classList.contains("has-error");
      });
    }
    result.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    bindNavToggle();
    bindResultFields();
    bindSliders(document);
    bindOutlineToggles(document);
    bindPhotoRows();
    if (document.querySelector(".analysis[data-pending]")) window.setTimeout(pollPending, 1500);
  });
})();
