/* 2-hbnb: 1-hbnb, plus the API status circle (#api_status.available while the API answers OK).
   The API is same-origin unless the page carries another base in body[data-api]. */
$(function () {
  const api = ($('body').attr('data-api') || '').replace(/\/$/, '');

  const amenities = {};
  $('div.amenities input[type="checkbox"]').on('change', function () {
    const id = $(this).attr('data-id');
    if (this.checked) {
      amenities[id] = $(this).attr('data-name');
    } else {
      delete amenities[id];
    }
    $('div.amenities h4').text(Object.values(amenities).join(', ') || '\u00a0');
  });

  function checkStatus () {
    $.ajax({ url: api + '/api/v1/status/', dataType: 'json', timeout: 3000 })
      .done(function (data) {
        $('#api_status').toggleClass('available', Boolean(data && data.status === 'OK'));
      })
      .fail(function () {
        $('#api_status').removeClass('available');
      });
  }
  checkStatus();
  setInterval(checkStatus, 2000);
});
