// Transform response (success path only)
if (@DATA && Array.isArray(@DATA.data)) {
@DATA.data = @DATA.data.map(item => ({
...item,
fullName: `${item.firstName} ${item.lastName}`
}));
}
