// Small page actions kept out of the markup, so the Content-Security-Policy needs no inline
// script or handler: a button with data-print prints the page; a field with
// data-select-on-focus selects its whole text when it gets the focus (a link to copy).
"use strict";
document.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("[data-print]")) window.print();
});
document.addEventListener("focusin", (event) => {
  const field = event.target;
  if (field instanceof HTMLInputElement && field.hasAttribute("data-select-on-focus")) field.select();
});
