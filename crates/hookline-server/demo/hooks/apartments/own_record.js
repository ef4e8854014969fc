// apartments · show.after_datasource_response: nobody but its realtor (or a superadmin)
// sees an apartment.
export default async ({ response, user }) => {
  const foreign = response.some((apartment) => apartment.realtor_id !== user.id);
  if (foreign && user.role !== "superadmin") {
    return { ok: false, error: "You are not allowed to see this apartment", status: 403 };
  }
  return { ok: true };
};
