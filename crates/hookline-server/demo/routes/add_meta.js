// GET /stats/prices · post-hook: who asked, for which country, and how long it took.
if (@DATA) {
  @DATA.meta = {
    requestedBy: @USER?.id ?? null,
    country: @QUERY.country ?? null,
    tookMs: Date.now() - @SHARE.startedAt,
  };
}
