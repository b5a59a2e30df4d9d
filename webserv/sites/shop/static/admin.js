// Admin grids: a header checkbox that selects every row checkbox of the same name.
document.addEventListener("change", (event) => {
  const box = event.target;
  const name = box instanceof HTMLInputElement ? box.dataset.selectAll : undefined;
  if (!name) return;
  for (const row of document.querySelectorAll(`input[type=checkbox][name="${name}"]`)) {
    row.checked = box.checked;
  }
});
