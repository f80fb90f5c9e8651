// The benchmark's floor page: 50 placeholder rows written by a script, no
// data fetched, then the same `rows-painted` mark as the other pages.
"use strict";

(() => {
  const rows = [];
  for (let i = 1; i <= 50; i++) {
    const li = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = `Model ${i}`;
    const id = document.createElement("code");
    id.textContent = ` author/model-${i} `;
    li.append(name, id, "gateway · context unknown · price unknown");
    rows.push(li);
  }
  document.getElementById("models").replaceChildren(...rows);
  document.getElementById("summary").textContent = "Showing 1–50 of 50 models";
  requestAnimationFrame(() => setTimeout(() => performance.mark("rows-painted"), 0));
})();
