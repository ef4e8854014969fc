// users · create.before_save: one account per email address (409 otherwise), with a message
// that names the address. The column is `unique`, so the database's unique index is what
// guarantees it when two creates race, and for edits, which this hook does not check: a
// duplicate is then a 409 naming the column `email`.
export default async ({ record, tables }) => {
  const { data } = await tables.users.find({ where: { email: record.email }, limit: 1 });
  if (data.length > 0) {
    return { ok: false, error: `a user with the email ${record.email} exists`, status: 409 };
  }
  return { ok: true };
};
