// GET /stats/prices · pre-hook: `?country=` must be a two-letter code; remember when the
// request started for the post-hook.
if (@QUERY.country !== undefined) {
  @QUERY.country = String(@QUERY.country).toUpperCase();
  if (!/^[A-Z]{2}$/.test(@QUERY.country)) {
    @THROW400(`country must be a two-letter code, got "${@QUERY.country}"`);
  }
}
@SHARE.startedAt = Date.now();
@LOGS(`price stats for ${@QUERY.country ?? "all countries"}`);
