// Samordna web: small progressive enhancements. Every page works without this file.
"use strict";
(function () {
  // A form marked data-kontroll="URL" is checked as it is filled in: the form is posted to URL and
  // the rule explanations of the answer replace the form's own. Submitting still works without it.
  document.querySelectorAll("form[data-kontroll]").forEach(function (form) {
    var url = form.getAttribute("data-kontroll");
    var pending = null;
    function check() {
      var body = new URLSearchParams(new FormData(form));
      fetch(url, { method: "POST", body: body, credentials: "same-origin",
                   headers: { "Content-Type": "application/x-www-form-urlencoded" } })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          // Replace only the explanations, never the fields (keeps focus and what was typed).
          form.querySelectorAll("[data-forklaring]").forEach(function (old) {
            var fresh = doc.getElementById(old.id);
            if (fresh) { old.replaceWith(fresh); }
          });
          // Keep each field's link to its explanation in step with the answer.
          form.querySelectorAll("input[id], select[id], textarea[id], fieldset[id]").forEach(function (field) {
            var fresh = doc.getElementById(field.id);
            if (!fresh) { return; }
            ["aria-describedby", "aria-invalid"].forEach(function (a) {
              if (fresh.hasAttribute(a)) { field.setAttribute(a, fresh.getAttribute(a)); }
              else { field.removeAttribute(a); }
            });
          });
          // The summary above the form, too.
          var summary = document.getElementById("kontroll-resultat");
          var freshSummary = doc.getElementById("kontroll-resultat");
          if (summary && freshSummary) { summary.replaceWith(freshSummary); }
        })
        .catch(function () { /* the buttons still work */ });
    }
    form.addEventListener("change", function () {
      if (pending) { clearTimeout(pending); }
      pending = setTimeout(check, 250);
    });
  });
})();
