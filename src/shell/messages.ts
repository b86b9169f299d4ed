/**
 * The text Windows prints for a Win32 error (FormatMessage with
 * FORMAT_MESSAGE_FROM_SYSTEM, en-US), for the errors the file API reports.
 * cmd.exe prints these lines as they are: "The system cannot find the file
 * specified." An error without an entry is shown by its symbol and number.
 */
import { win32ErrorName } from "../windows/ntstatus.js";

const MESSAGES: ReadonlyMap<number, string> = new Map([
  [1, "Incorrect function."],
  [2, "The system cannot find the file specified."],
  [3, "The system cannot find the path specified."],
  [4, "The system cannot open the file."],
  [5, "Access is denied."],
  [6, "The handle is invalid."],
  [8, "Not enough memory resources are available to process this command."],
  [13, "The data is invalid."],
  [14, "Not enough memory resources are available to complete this operation."],
  [17, "The system cannot move the file to a different disk drive."],
  [18, "There are no more files."],
  [19, "The media is write protected."],
  [21, "The device is not ready."],
  [31, "A device attached to the system is not functioning."],
  [32, "The process cannot access the file because it is being used by another process."],
  [33, "The process cannot access the file because another process has locked a portion of the file."],
  [38, "Reached the end of the file."],
  [50, "The request is not supported."],
  [64, "The specified network name is no longer available."],
  [80, "The file exists."],
  [87, "The parameter is incorrect."],
  [112, "There is not enough space on the disk."],
  [122, "The data area passed to a system call is too small."],
  [123, "The filename, directory name, or volume label syntax is incorrect."],
  [131, "An attempt was made to move the file pointer before the beginning of the file."],
  [144, "The directory is not a subdirectory of the root directory."],
  [145, "The directory is not empty."],
  [158, "The segment is already unlocked."],
  [161, "The specified path is invalid."],
  [170, "The requested resource is in use."],
  [183, "Cannot create a file when that file already exists."],
  [206, "The filename or extension is too long."],
  [223, "The file size exceeds the limit allowed and cannot be saved."],
  [234, "More data is available."],
  [254, "The specified extended attribute name was invalid."],
  [255, "The extended attributes are inconsistent."],
  [259, "No more data is available."],
  [267, "The directory name is invalid."],
  [275, "The extended attributes did not fit in the buffer."],
  [282, "The mounted file system does not support extended attributes."],
  [303, "The file cannot be opened because it is in the process of being deleted."],
  [665, "The requested operation could not be completed due to a file system limitation"],
  [681, "The symbolic link cannot be followed because its type is disabled."],
  [995, "The I/O operation has been aborted because of either a thread exit or an application request."],
  [1117, "The request could not be performed because of an I/O device error."],
  [1142, "An attempt was made to create more links on a file than the file system supports."],
  [1167, "The device is not connected."],
  [1168, "Element not found."],
  [1224, "The requested operation cannot be performed on a file with a user-mapped section open."],
  [1305, "The revision level is unknown."],
  [1307, "This security ID may not be assigned as the owner of this object."],
  [1308, "This security ID may not be assigned as the primary group of an object."],
  [1314, "A required privilege is not held by the client."],
  [1332, "No mapping between account names and security IDs was done."],
  [1336, "The access control list (ACL) structure is invalid."],
  [1337, "The security ID structure is invalid."],
  [1338, "The security descriptor structure is invalid."],
  [1359, "An internal error occurred."],
  [1392, "The file or directory is corrupted and unreadable."],
  [1450, "Insufficient system resources exist to complete the requested service."],
  [1460, "This operation returned because the timeout period expired."],
  [1920, "The file cannot be accessed by the system."],
  [1921, "The name of the file cannot be resolved by the system."],
  [4390, "The file or directory is not a reparse point."],
  [4391, "The reparse point attribute cannot be set because it conflicts with an existing attribute."],
  [4392, "The data present in the reparse point buffer is invalid."],
  [4393, "The tag present in the reparse point buffer is invalid."],
  [4394, "There is a mismatch between the tag specified in the request and the tag present in the reparse point."],
]);

/** What Windows prints for Win32 error `code`. */
export function win32Message(code: number): string {
  return MESSAGES.get(code) ?? `${win32ErrorName(code)} (error ${code}).`;
}

/** Whether the table has Windows' own text for `code`. */
export function hasWin32Message(code: number): boolean {
  return MESSAGES.has(code);
}
