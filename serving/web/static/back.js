// The error page's "Terug" link goes back one page; a file, not an inline script, for the strict
// Content-Security-Policy. Without JavaScript the link leads to the login page.
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("back")?.addEventListener("click", (event) => {
    event.preventDefault();
    history.back();
  });
});
