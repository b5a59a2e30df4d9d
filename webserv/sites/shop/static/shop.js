// Storefront behaviour: search suggestions, add to cart without reload, lazy reviews,
// image gallery, sort auto-submit and the first-visit cookie/newsletter dialog.
"use strict";

const CONSENT_COOKIE = "shop_consent";

function escapeHtml(text) {
  const div = document.createElement("div");
  div.textContent = String(text);
  return div.innerHTML;
}

function money(cents) {
  return "$" + (cents / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

// The session's form key: the shop refuses a state-changing call without it (forgery protection).
function formKey() {
  const meta = document.querySelector('meta[name="form-key"]');
  return meta ? meta.content : "";
}

async function fetchJson(url, options = {}) {
  const headers = { Accept: "application/json", "Content-Type": "application/json", "X-Form-Key": formKey() };
  const response = await fetch(url, { headers: headers, ...options });
  let body = {};
  try {
    body = await response.json();
  } catch (err) {
    body = { error: "Unexpected answer from the server." };
  }
  if (!response.ok) {
    throw new Error(body.error || "Something went wrong (" + response.status + ").");
  }
  return body;
}

function setCartCount(count) {
  const badge = document.getElementById("cart-count");
  if (badge) badge.textContent = count;
  const link = document.querySelector(".cart-link");
  if (link) link.setAttribute("aria-label", "Shopping cart, " + count + " item" + (count === 1 ? "" : "s"));
}

function initSuggestions() {
  const input = document.getElementById("search");
  const list = document.getElementById("search-suggestions");
  if (!input || !list) return;
  let timer = null;
  let controller = null;
  let active = -1;

  const close = () => {
    list.hidden = true;
    list.innerHTML = "";
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (index) => {
    const items = list.querySelectorAll("[role=option]");
    items.forEach((el, i) => el.setAttribute("aria-selected", i === index ? "true" : "false"));
    active = index;
    if (items[index]) input.setAttribute("aria-activedescendant", items[index].id);
  };
  const render = (data) => {
    const rows = [];
    data.categories.forEach((c, i) => rows.push(
      '<li role="option" id="suggest-c' + i + '" aria-selected="false"><a href="' + c.url + '">Category: ' + escapeHtml(c.name) + "</a></li>"));
    data.products.forEach((p, i) => rows.push(
      '<li role="option" id="suggest-p' + i + '" aria-selected="false"><a href="' + p.url + '">' +
      (p.image ? '<img src="' + p.image + '" alt="" width="32" height="32">' : "") +
      "<span>" + escapeHtml(p.name) + '</span> <span class="price">' + money(p.price_cents) + "</span></a></li>"));
    if (!rows.length) {
      rows.push('<li class="no-suggestions">No suggestions for "' + escapeHtml(data.query) + '"</li>');
    }
    list.innerHTML = rows.join("");
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  };
  const load = async () => {
    const q = input.value.trim();
    if (q.length < 2) return close();
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      render(await fetchJson("/api/suggest?q=" + encodeURIComponent(q), { signal: controller.signal }));
    } catch (err) {
      if (err.name !== "AbortError") close();
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, 150);
  });
  input.addEventListener("keydown", (event) => {
    const items = list.querySelectorAll("[role=option]");
    if (event.key === "ArrowDown" && items.length) {
      event.preventDefault();
      highlight((active + 1) % items.length);
    } else if (event.key === "ArrowUp" && items.length) {
      event.preventDefault();
      highlight((active - 1 + items.length) % items.length);
    } else if (event.key === "Enter" && active >= 0 && items[active]) {
      event.preventDefault();
      window.location.href = items[active].querySelector("a").href;
    } else if (event.key === "Escape") {
      close();
    }
  });
  document.addEventListener("click", (event) => {
    if (!list.contains(event.target) && event.target !== input) close();
  });
}

async function addToCart(payload, messageEl) {
  if (messageEl) {
    messageEl.className = "form-message";
    messageEl.textContent = "Adding to cart...";
  }
  try {
    const data = await fetchJson("/api/cart", { method: "POST", body: JSON.stringify(payload) });
    setCartCount(data.cart_count);
    if (messageEl) {
      messageEl.className = "form-message success";
      messageEl.innerHTML = escapeHtml(data.message) + ' <a href="/cart">View cart</a>';
    }
  } catch (err) {
    if (messageEl) {
      messageEl.className = "form-message error";
      messageEl.textContent = err.message;
    }
  }
}

function initAddToCart() {
  const form = document.getElementById("add-to-cart-form");
  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const message = document.getElementById("add-to-cart-message");
      const options = {};
      for (const select of form.querySelectorAll("select[data-option]")) {
        if (!select.value) {
          message.className = "form-message error";
          message.textContent = "Choose a " + select.dataset.option.toLowerCase() + " first.";
          select.focus();
          return;
        }
        options[select.dataset.option] = select.value;
      }
      const qty = Number(form.querySelector("[name=qty]").value);
      addToCart({ product_id: Number(form.dataset.productId), qty: qty, options: options }, message);
    });
  }
  document.querySelectorAll("button.add-to-cart").forEach((button) => {
    button.addEventListener("click", () => {
      addToCart({ product_id: Number(button.dataset.productId), qty: 1, options: {} }, document.getElementById("cart-status"));
    });
  });
}

function initReviews() {
  const section = document.getElementById("reviews");
  const list = document.getElementById("review-list");
  if (!section || !list) return;
  const more = document.getElementById("more-reviews");
  const loading = document.getElementById("reviews-loading");
  let next = 1;
  const load = async () => {
    loading.hidden = false;
    list.setAttribute("aria-busy", "true");
    try {
      const data = await fetchJson(section.dataset.reviewsUrl + "?page=" + next);
      for (const r of data.reviews) {
        const li = document.createElement("li");
        li.className = "review";
        li.innerHTML = '<h3 class="review-title">' + escapeHtml(r.title) + "</h3>" +
          '<p class="review-meta"><span class="stars" role="img" aria-label="Rated ' + r.rating + ' out of 5"><span class="stars-fill" style="width:' + r.rating * 20 + '%"></span></span> ' +
          "Review by <strong>" + escapeHtml(r.nickname) + "</strong> on " + escapeHtml(r.created_at.slice(0, 10)) + "</p>" +
          '<p class="review-body">' + escapeHtml(r.body) + "</p>";
        list.appendChild(li);
      }
      next = data.page + 1;
      more.hidden = data.page >= data.pages;
      loading.hidden = true;
    } catch (err) {
      loading.textContent = "Reviews could not be loaded: " + err.message;
    }
    list.setAttribute("aria-busy", "false");
  };
  more.addEventListener("click", load);
  if ("IntersectionObserver" in window) {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        observer.disconnect();
        load();
      }
    }, { rootMargin: "200px" });
    observer.observe(section);
  } else {
    load();
  }
}

function initGallery() {
  const main = document.getElementById("main-image");
  if (!main) return;
  document.querySelectorAll(".thumb").forEach((thumb) => {
    thumb.addEventListener("click", () => {
      main.src = thumb.dataset.src;
      main.alt = thumb.dataset.alt;
    });
  });
}

function initSorter() {
  document.querySelectorAll("select.auto-submit").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
}

function initConsent() {
  const dialog = document.getElementById("consent-dialog");
  if (!dialog || document.cookie.split("; ").some((c) => c.startsWith(CONSENT_COOKIE + "="))) return;
  const remember = () => {
    document.cookie = CONSENT_COOKIE + "=1; path=/; max-age=31536000; SameSite=Lax";
  };
  const form = document.getElementById("newsletter-form");
  const message = document.getElementById("newsletter-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : "dismiss";
    if (action !== "subscribe") {
      remember();
      dialog.close();
      return;
    }
    const email = document.getElementById("newsletter-email").value.trim();
    if (!email) {
      message.className = "form-message error";
      message.textContent = "Enter your email address to subscribe.";
      return;
    }
    try {
      const data = await fetchJson("/api/newsletter", { method: "POST", body: JSON.stringify({ email: email }) });
      remember();
      message.className = "form-message success";
      message.textContent = data.message;
      document.getElementById("newsletter-subscribe").hidden = true;
      document.getElementById("consent-dismiss").textContent = "Close";
    } catch (err) {
      message.className = "form-message error";
      message.textContent = err.message;
    }
  });
  dialog.addEventListener("cancel", remember);
  dialog.showModal();
}

document.addEventListener("DOMContentLoaded", () => {
  initSuggestions();
  initAddToCart();
  initReviews();
  initGallery();
  initSorter();
  initConsent();
});
