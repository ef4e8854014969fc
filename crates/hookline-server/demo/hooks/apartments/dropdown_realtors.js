// apartments · dropdown_list.realtor_id.before_datasource_request (AdminForth's example): the
// realtor dropdown would otherwise list every user, leaking ids and emails; a realtor sees only
// themselves, a superadmin sees everyone.
export default async ({ query, user }) => {
  if (user.role !== "superadmin") {
    query.filters = [{ field: "id", operator: "eq", value: user.id }];
  }
  return { ok: true };
};
