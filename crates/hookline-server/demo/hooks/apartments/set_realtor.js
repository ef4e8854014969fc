// apartments · create.before_save (AdminForth's example): the realtor of a new apartment is
// always the user who creates it, whatever the client sent.
export default async ({ record, adminUser }) => {
  record.realtor_id = adminUser.dbUser.id;
  return { ok: true };
};
