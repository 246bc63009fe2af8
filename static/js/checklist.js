// The checklists form: live 7-point score and TDS, and the "pre-filled" mark dropped once an item is changed.
(function () {
  "use strict";
  const form = document.getElementById("checklist-form");
  if (!form) return;
  const sevenPoint = document.getElementById("seven-point-score");
  const tds = document.getElementById("tds-score");
  const band = document.getElementById("tds-band");

  function update() {
    let points = 0;
    form.querySelectorAll(".check-item input[type=checkbox]").forEach((box, index) => {
      if (box.checked) points += index < 3 ? 2 : 1;
    });
    sevenPoint.textContent = points + (points >= 3 ? " (suggests melanoma)" : "");
    let total = 0;
    let complete = true;
    form.querySelectorAll(".abcd-item").forEach((item) => {
      const input = item.querySelector("input[type=number]");
      const note = item.querySelector(".prefill-note");
      if (note) {
        const changed = input.value !== note.dataset.suggested;
        item.classList.toggle("prefilled", !changed);
        note.hidden = changed;
      }
      if (input.value === "") complete = false;
      else total += parseFloat(item.dataset.weight) * parseFloat(input.value);
    });
    if (!complete) {
      tds.textContent = "–";
      band.textContent = "";
      return;
    }
    tds.textContent = total.toFixed(2);
    band.textContent = total < 4.75 ? "benign" : total <= 5.45 ? "suspicious" : "highly suspicious";
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
