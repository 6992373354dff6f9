/**
 * SPEC 2.1 ids (`userId`, `pkbId`): 1–128 characters of `[A-Za-z0-9._:@-]`, safe in paths,
 * headers, logs and audit records. Dot-only values are refused too: as a path segment (the patient
 * lookup, upstream routes) `..` would mean "parent", i.e. some other resource.
 */
export function isValidId(value: string): boolean {
  return /^[A-Za-z0-9._:@-]{1,128}$/.test(value) && !/^\.+$/.test(value);
}

export const ID_RULE = '1-128 characters of A-Z a-z 0-9 . _ : @ -, not only dots';
