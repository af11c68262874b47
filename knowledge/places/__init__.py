"""Places in the council's area (issue 13): the gazetteer (streets, postcodes, wards, map points), reading
where a resident means from a postcode, a street and number or a shared pin, and what the gazetteer says of
an address (bin days, gritting route)."""
