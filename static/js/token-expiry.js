// Optional: count down the access token's expiry on /account/tokens. The page works without it.
(function () {
  var el = document.getElementById("expires-in");
  if (!el) return;
  var exp = parseInt(el.dataset.exp, 10);
  setInterval(function () { el.textContent = Math.max(0, exp - Math.floor(Date.now() / 1000)); }, 1000);
})();
