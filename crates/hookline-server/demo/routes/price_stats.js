// GET /stats/prices · handler: count, minimum, maximum and average price of the apartments
// the caller may see (the list hooks scope a realtor to their own).
const where = @QUERY.country ? { country: @QUERY.country } : {};
const { data } = await #apartments.find({ where, limit: 1000 });
const prices = data.map((apartment) => apartment.price);
@LOGS(`${prices.length} apartments`);
if (prices.length === 0) {
  return { count: 0, min: null, max: null, average: null };
}
const total = prices.reduce((sum, price) => sum + price, 0);
return {
  count: prices.length,
  min: Math.min(...prices),
  max: Math.max(...prices),
  average: Math.round((total / prices.length) * 100) / 100,
};
