/**
 * WS-Management names used by the Windows Remote Shell, from [MS-WSMV] 3.1.4.5 (Create),
 * 3.1.4.11 (Command), 3.1.4.12 (Signal), 3.1.4.14 (Receive) and DSP0226.
 * https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/
 */
export const ns = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  addressing: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsman: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  transfer: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  shell: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  fault: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
} as const;

export const cmdShellUri = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';

export const actions = {
  create: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create',
  delete: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete',
  command: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command',
  receive: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive',
  signal: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal',
} as const;

export const signals = {
  terminate: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate',
  ctrlC: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c',
} as const;

export const commandStateDone = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done';

/** WSManFault code a Receive answers with when no output arrived within OperationTimeout; the client just asks again. */
export const receiveTimeoutFaultCode = '2150858793';
