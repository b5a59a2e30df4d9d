// The timeline of an episode, or of several side by side: one step shown at a time (the
// same step of every episode), chosen from the step list or with the keyboard. Without
// this script every step is shown, one below the other.
(function () {
  "use strict";
  const timeline = document.querySelector("[data-timeline]");
  if (!timeline) return;
  const length = Number(timeline.dataset.length);
  const tracks = Array.from(timeline.querySelectorAll("[data-track]"));
  const links = Array.from(timeline.querySelectorAll("[data-goto]"));
  let current = -1;

  // The acted-on element's box and click point, recorded in the screenshot's pixels, placed
  // over the image as it is drawn (its width follows the page's).
  function mark(image) {
    const frame = image.closest(".frame");
    if (!frame || !image.naturalWidth) return;
    const scale = image.clientWidth / image.naturalWidth;
    const numbers = (text) => text.split(",").map(Number);
    const box = frame.querySelector(".target");
    if (box) {
      const [x, y, w, h] = numbers(box.dataset.box);
      Object.assign(box.style, {
        left: x * scale + "px", top: y * scale + "px",
        width: w * scale + "px", height: h * scale + "px",
      });
      box.classList.add("placed");
    }
    const click = frame.querySelector(".click");
    if (click) {
      const [x, y] = numbers(click.dataset.point);
      Object.assign(click.style, { left: x * scale + "px", top: y * scale + "px" });
      click.classList.add("placed");
    }
  }

  // A step's screenshot is fetched when the step is first shown, not with the page.
  function load(section) {
    for (const image of section.querySelectorAll("img[data-src]")) {
      image.addEventListener("load", () => mark(image));
      image.src = image.dataset.src;
      image.removeAttribute("data-src");
    }
    for (const image of section.querySelectorAll(".frame img[src]")) mark(image);
  }
  window.addEventListener("resize", () => {
    for (const image of document.querySelectorAll(".frame img[src]")) mark(image);
  });

  // Scroll the observation text, not the page, to its marked element.
  function revealMark(section) {
    const text = section.querySelector("pre.obs");
    const mark = text && text.querySelector("mark");
    if (mark) text.scrollTop = Math.max(0, mark.offsetTop - text.clientHeight / 3);
  }

  // Scroll the step list (not the page) so that the current step's entry shows.
  function keepInView(link) {
    const list = link.closest(".steplist");
    const top = link.offsetTop;
    if (top < list.scrollTop || top + link.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = top - list.clientHeight / 2;
    }
  }

  function show(position) {
    const next = Math.max(0, Math.min(length - 1, position));
    if (next === current) return;
    // The address keeps the step shown (for a reload or a link), but not on the first
    // show: a fragment set before the page has loaded makes the browser scroll to it.
    if (current >= 0) history.replaceState(null, "", "#step-" + next);
    current = next;
    for (const track of tracks) {
      let found = false;
      for (const section of track.querySelectorAll("section.step")) {
        const here = Number(section.dataset.step) === current;
        section.classList.toggle("current", here);
        if (here) {
          found = true;
          load(section);
          revealMark(section);
        }
      }
      const ended = track.querySelector("[data-ended]");
      if (ended) ended.classList.toggle("current", !found);
    }
    for (const link of links) {
      const here = Number(link.dataset.goto) === current;
      link.classList.toggle("current", here);
      if (here) keepInView(link);
    }
  }

  const keys = {
    j: () => current + 1, ArrowRight: () => current + 1,
    k: () => current - 1, ArrowLeft: () => current - 1,
    g: () => 0, Home: () => 0,
    G: () => length - 1, End: () => length - 1,
  };
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, select, textarea, button");
    const move = keys[event.key];
    if (!move || typing || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    show(move());
  });
  for (const link of links) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      show(Number(link.dataset.goto));
    });
  }
  timeline.classList.add("one-step");
  const asked = /^#step-(\d+)$/.exec(location.hash);
  show(asked ? Number(asked[1]) : 0);
})();
