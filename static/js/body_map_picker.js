// The lesion form's body map: a click or tap on the front or back figure places the lesion.
// The point is kept in the form's hidden view, map_x and map_y (0-1 on that figure, as seen);
// the server derives the body site and the patient's side from it (lesions/body_sites.py).
(function () {
  "use strict";

  function bind(picker) {
    const form = picker.closest("form");
    const svg = picker.querySelector("svg");
    const pin = picker.querySelector(".pin");
    const status = picker.querySelector(".pick-status");
    const field = function (name) { return form.querySelector('input[name="' + name + '"]'); };
    const d = picker.dataset;
    const halfWidth = Number(d.halfWidth), height = Number(d.height), top = Number(d.top);
    const centre = { anterior: Number(d.anteriorX), posterior: Number(d.posteriorX) };
    const band = Number(d.midlineBand);

    function side(view, unitsX) {
      if (Math.abs(unitsX) <= band) return "midline";
      // On the front view the patient's left is on the viewer's right; on the back, on the left.
      const viewersRight = unitsX > 0;
      if (view === "anterior") return viewersRight ? "patient's left" : "patient's right";
      return viewersRight ? "patient's right" : "patient's left";
    }

    function show(view, mapX, mapY) {
      const unitsX = (mapX * 2 - 1) * halfWidth;
      const x = centre[view] + unitsX, y = top + mapY * height;
      pin.setAttribute("transform", "translate(" + x.toFixed(1) + " " + y.toFixed(1) + ")");
      pin.classList.remove("unset");
      pin.dataset.view = view;
      status.textContent = "Placed on the " + (view === "anterior" ? "front" : "back") + ", " + side(view, unitsX) + ".";
    }

    function set(view, mapX, mapY) {
      mapX = Math.min(1, Math.max(0, mapX));
      mapY = Math.min(1, Math.max(0, mapY));
      field("view").value = view;
      field("map_x").value = mapX.toFixed(4);
      field("map_y").value = mapY.toFixed(4);
      show(view, mapX, mapY);
    }

    function place(event) {
      const view = event.currentTarget.dataset.view;
      const point = svg.createSVGPoint();
      point.x = event.clientX;
      point.y = event.clientY;
      const local = point.matrixTransform(svg.getScreenCTM().inverse());
      set(view, (local.x - centre[view] + halfWidth) / (2 * halfWidth), (local.y - top) / height);
    }

    // Keyboard: the arrow keys move the point (placed mid-torso on the front first); "f" and "b"
    // move it to the front or back figure at the same place.
    function nudge(event) {
      const steps = { ArrowLeft: [-0.01, 0], ArrowRight: [0.01, 0], ArrowUp: [0, -0.01], ArrowDown: [0, 0.01] };
      let view = field("view").value || "anterior";
      let mapX = field("map_x").value === "" ? 0.5 : Number(field("map_x").value);
      let mapY = field("map_y").value === "" ? 0.4 : Number(field("map_y").value);
      if (steps[event.key]) {
        mapX += steps[event.key][0];
        mapY += steps[event.key][1];
      } else if (event.key === "f" || event.key === "b") {
        view = event.key === "f" ? "anterior" : "posterior";
      } else {
        return;
      }
      event.preventDefault();
      set(view, mapX, mapY);
    }

    picker.querySelectorAll(".pick-area").forEach(function (area) { area.addEventListener("click", place); });
    svg.addEventListener("keydown", nudge);
    const view = field("view").value, mapX = field("map_x").value, mapY = field("map_y").value;
    if (view && mapX !== "" && mapY !== "") show(view, Number(mapX), Number(mapY));
  }

  document.querySelectorAll(".body-map-picker").forEach(bind);
})();
