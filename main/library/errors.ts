/** An expected problem with a file, a path or an argument: the message is meant for the user. */
export class LibraryError extends Error {
  override name = 'LibraryError';
}
