'use strict';
// The page showing new secrets once, opened in a related-object popup: "continue" hands the new object to the
// form that opened the popup, as Django's popup_response.js does, once the secrets were copied.
{
    const button = document.getElementById('secrets-once-continue');
    if (button && button.dataset.popupResponse && window.opener) {
        button.addEventListener('click', function(event) {
            event.preventDefault();
            const data = JSON.parse(button.dataset.popupResponse);
            window.opener.dismissAddRelatedObjectPopup(window, data.value, data.obj);
        });
    }
}
