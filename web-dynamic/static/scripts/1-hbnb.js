/* 1-hbnb: the checked amenities' names go into div.amenities h4. */
$(function () {
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
});
