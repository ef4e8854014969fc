// users · create.before_save: one account per email address (409 otherwise).
export default async ({ record, tables }) => {
  const { data } = await tables.users.find({ where: { email: record.email }, limit: 1 });
  if (data.length > 0) {
    return { ok: false, error: `a user with the email ${record.email} exists`, status: 409 };
  }
  return { ok: true };
};
