/* Passkeys and security keys (WebAuthn) for the operator console.
 *
 * A form marked data-webauthn="create" (register) or "get" (sign in / confirm) carries the options
 * the server made, with its challenge, in data-webauthn-options. Its button starts the ceremony;
 * the browser's answer goes, as JSON, into the form's hidden input data-webauthn-answer, and the
 * form is submitted. The server checks the answer; nothing here decides anything.
 */
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    return options;
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    return options;
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      if (response.userHandle) { json.response.userHandle = toBase64url(response.userHandle); }
    }
    if (credential.authenticatorAttachment) { json.authenticatorAttachment = credential.authenticatorAttachment; }
    return JSON.stringify(json);
  }

  function start(form, button) {
    var error = form.querySelector("[data-webauthn-error]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      if (error) { error.hidden = false; }
      return;
    }
    var options = JSON.parse(form.getAttribute("data-webauthn-options"));
    var ceremony = form.getAttribute("data-webauthn") === "create"
      ? navigator.credentials.create({ publicKey: creationOptions(options) })
      : navigator.credentials.get({ publicKey: requestOptions(options) });
    button.disabled = true;
    ceremony.then(function (credential) {
      form.querySelector("[data-webauthn-answer]").value = answer(credential);
      form.submit();
    }).catch(function (reason) {
      // The browser says why (cancelled, timed out, no matching key): kept in its console.
      if (window.console) { window.console.warn("WebAuthn:", reason && reason.name, reason && reason.message); }
      button.disabled = false;
      if (error) { error.hidden = false; }
    });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    var button = form.querySelector("[data-webauthn-start]");
    if (!button) { return; }
    button.addEventListener("click", function (event) {
      event.preventDefault();
      start(form, button);
    });
  });
})();
