// Admin grids: a header checkbox that selects every row checkbox of the same name.
document.addEventListener("change", (event) => {
  const box = event.target;
  const name = box instanceof HTMLInputElement ? box.dataset.selectAll : undefined;
  if (!name) return;
  for (const row of document.querySelectorAll(`input[type=checkbox][name="${name}"]`)) {
    row.checked = box.checked;
  }
});

// Filter forms leave blank fields out of the URL, so grid addresses stay short and readable.
document.addEventListener("formdata", (event) => {
  if (!(event.target instanceof HTMLFormElement) || event.target.method !== "get") return;
  for (const [name, value] of [...event.formData.entries()]) {
    if (value === "") event.formData.delete(name);
  }
});
