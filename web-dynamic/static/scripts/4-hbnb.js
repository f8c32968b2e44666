/* 4-hbnb: 3-hbnb, plus the Search button: POST places_search with the checked amenities. */
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

  function plural (n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function article (place) {
    return $('<article>').append(
      $('<div class="title_box">').append(
        $('<h2>').text(place.name),
        $('<div class="price_by_night">').text('$' + place.price_by_night)),
      $('<div class="information">').append(
        $('<div class="max_guest">').text(plural(place.max_guest, 'Guest')),
        $('<div class="number_rooms">').text(plural(place.number_rooms, 'Bedroom')),
        $('<div class="number_bathrooms">').text(plural(place.number_bathrooms, 'Bathroom'))),
      $('<div class="description">').text(place.description || ''));
  }

  function search (filters) {
    $.ajax({
      url: api + '/api/v1/places_search/',
      type: 'POST',
      contentType: 'application/json',
      data: JSON.stringify(filters),
      dataType: 'json'
    }).done(function (places) {
      const section = $('section.places');
      section.find('article').remove();
      places.sort(function (a, b) { return a.name.localeCompare(b.name); });
      places.forEach(function (place) { section.append(article(place)); });
      section.attr('data-searches', String(Number(section.attr('data-searches') || 0) + 1));
    });
  }

  search({});
  $('section.filters button').on('click', function () {
    search({ amenities: Object.keys(amenities) });
  });
});
